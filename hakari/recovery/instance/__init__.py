"""Instance failure: one instance crashed on a healthy host."""
