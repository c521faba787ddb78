"""Pure console logic (access, masking, floor state, views, texts): no I/O."""
