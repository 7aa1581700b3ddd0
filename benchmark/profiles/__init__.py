"""The built-in run profiles (TOML): smoke, quick, ablation, paper and paper-corrected."""
