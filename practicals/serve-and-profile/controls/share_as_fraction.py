# Finds the right component but reports its share as a fraction (0.7) where a percentage (70) is asked for.
from reference import diagnose as measured


def diagnose(base_url):
    component, share = measured(base_url)
    return component, share / 100
