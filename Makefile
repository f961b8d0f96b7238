# The two set-up commands for a fresh machine are `make run` and `make test`; every target
# bootstraps the tools first (idempotent, under 2 s once done) and sources .tools/env.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

TOOLS_ENV := . .tools/env
STATE_DIR ?= $(CURDIR)/.state
export LOADTEST_STATE_DIR ?= $(STATE_DIR)
CONFIG ?= examples/local.toml
LOCAL_AWS_PORT ?= 4566
export LOCAL_AWS_PORT

.PHONY: help bootstrap run test local-aws-up local-aws-down local-aws-status bench fmt lint clean

help:
	@echo "make run            bot on Slack when SLACK_* tokens are set, else the local console on the local AWS emulator"
	@echo "make test           the whole test suite (real Terraform against the local AWS emulator)"
	@echo "make bootstrap      install Terraform, the AWS provider mirror and moto into .tools/"
	@echo "make local-aws-up   start the local AWS emulator (moto) on 127.0.0.1:$(LOCAL_AWS_PORT)"
	@echo "make local-aws-down stop it"
	@echo "make bench          benchmarks"
	@echo "make lint           clippy on every target (warnings are errors) and the formatting check"

bootstrap:
	@scripts/bootstrap

local-aws-up: bootstrap
	@$(TOOLS_ENV) && scripts/local-aws start

local-aws-down:
	@scripts/local-aws stop

local-aws-status:
	@scripts/local-aws status

run: bootstrap
	@$(TOOLS_ENV) && scripts/run

test: bootstrap
	@$(TOOLS_ENV) && scripts/test

bench: bootstrap
	@$(TOOLS_ENV) && scripts/bench

fmt:
	@$(TOOLS_ENV) && cargo fmt && terraform fmt -recursive terraform

# What review enforces: no clippy warning on any target (tests and benches included) and the
# formatting `make fmt` writes.
lint: bootstrap
	@$(TOOLS_ENV) && cargo clippy --all-targets -- -D warnings && cargo fmt --check

clean:
	@scripts/local-aws stop || true
	rm -rf target .state
