# Packer >= 1.7 installs builders as plugins: `packer init .` fetches this one. (Kept apart from
# the template so that the template alone also validates on older Packer, whose amazon builder
# is built in.)
packer {
  required_version = ">= 1.7.0"

  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.2.0"
    }
  }
}
