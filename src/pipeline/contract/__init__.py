"""The data contract: the instrument (codebook), answers mapped and validated against it, quarantine and drift."""
