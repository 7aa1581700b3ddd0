"""What a run is turned into: tables with intervals and marks, comparisons, figures, rankings."""
