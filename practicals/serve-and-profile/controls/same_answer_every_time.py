# Does not measure: the same component and share every time (when every grade had one server, this passed about one grade in four).


def diagnose(base_url):
    return "model", 75.0
