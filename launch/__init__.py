"""Launchers: the same `vivit-train` command on a TPU-VM pod slice or on GPU nodes."""
