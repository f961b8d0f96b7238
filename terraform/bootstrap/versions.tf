terraform {
  required_version = ">= 1.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 3.39"
    }
  }

  # The bootstrap's own state is tiny and changes almost never; it cannot live in the bucket it
  # creates. Keep it local (-backend-config=path=<file> puts it anywhere) and copy it next to
  # the environments' states after an apply (terraform/README.md, "A new AWS account").
  backend "local" {}
}
