"""What a run is turned into: tables, figures, exported rankings and published splits."""
