"""Local notification sink: receives the router's deliveries and shows who was paged."""
