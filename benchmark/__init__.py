"""The harness: data sets, protocol and statistics, runs, reports and the command line."""
