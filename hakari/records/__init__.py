"""What hakari keeps of its work: in the CIB, the incident records, the instances'
original statuses and the process and instance failure incidents; on the local disk, the
journal; and the history built from them."""
