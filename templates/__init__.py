"""Templates written from template.yaml: the nested stacks it deploys."""
