"""The reconciler: desired state in the database -> data plane through an amphora driver."""
