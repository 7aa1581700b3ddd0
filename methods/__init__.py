"""The matchers, grouped by kind; methods.api is the one surface a plugin sees."""
