"""Running regiongate on one machine: template.yaml read locally, AWS emulated by moto."""
