"""The practicals lab: catalog and runner (no torch) in the calling process; worker, harness and
device stamp (torch) in a worker subprocess. Import the submodules directly."""
