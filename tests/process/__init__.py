"""Process tests, the slow ones: real processes (tokensync run as a program, the strict rotating
provider in its own process, several workers at once, faketime, Node, shells running examples).
Every test here is marked slow by tests/process/conftest.py. May use tests.support."""
