# Inputs of the environment's bucket.

variable "environment_name" {
  description = "Name of the environment: part of the bucket's name."
  type        = string
}

variable "bucket_name" {
  description = "Bucket name; empty = loadtest-<environment_name>-<account id>."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags of the bucket and its objects."
  type        = map(string)
  default     = {}
}

variable "config_files" {
  description = "Object key under config/ => local file, uploaded for the hosts to fetch at boot."
  type        = map(string)
  default     = {}
}
