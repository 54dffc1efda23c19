"""vigil up / down / status: the whole stack on one machine, supervised."""
