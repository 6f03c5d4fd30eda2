"""The test suite is a package so that each of its modules has one name (tests.x) for pytest and
mypy alike: sibling imports resolve, and mypy checks what they import."""
