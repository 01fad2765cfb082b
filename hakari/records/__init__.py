"""What hakari keeps of its work: the incident records in the CIB, the journal on
the local disk, the retry counters of process and instance failures, and the history
built from them."""
