"""Package data: the paper's reported tables and the authors' published splits."""
