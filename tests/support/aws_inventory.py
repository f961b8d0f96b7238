#!/usr/bin/env python3
"""What really runs in an AWS API (the local emulator in the tests), by its own account.

    aws_inventory.py --endpoint http://127.0.0.1:PORT --env ENV [--region us-east-1]

Prints one JSON object:

    {
      "instances_by_role": {"jmeter-master": 1, ...},   # running/pending, tagged loadtest:env=ENV
      "instances_not_terminated": 23,                    # ENV's instances in any state but terminated
      "running_instances_total": 23,                     # every running/pending instance, any tag
      "autoscaling_groups": [{"name", "desired", "min", "max", "instances", "tags"}],  # ENV's groups
      "load_balancers": 1,                               # every ELBv2 + classic load balancer
      "load_balancers_env": 1                            # ELBv2 load balancers tagged loadtest:env=ENV
    }

Uses boto3 (the moto venv has it) with fake credentials when --endpoint is given.
"""
import argparse
import json
import sys
from collections import Counter

import boto3


def paginate(client, method, key, **kwargs):
    for page in client.get_paginator(method).paginate(**kwargs):
        yield from page.get(key, [])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="", help="AWS endpoint URL; empty = real AWS")
    parser.add_argument("--env", required=True, help="value of the loadtest:env tag")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()

    kwargs = {"region_name": args.region}
    if args.endpoint:
        kwargs.update(
            endpoint_url=args.endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
    ec2 = boto3.client("ec2", **kwargs)
    autoscaling = boto3.client("autoscaling", **kwargs)
    elbv2 = boto3.client("elbv2", **kwargs)
    elb = boto3.client("elb", **kwargs)

    live_states = {"pending", "running"}
    by_role = Counter()
    not_terminated = 0
    running_total = 0
    for reservation in paginate(ec2, "describe_instances", "Reservations"):
        for instance in reservation["Instances"]:
            state = instance["State"]["Name"]
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            if state in live_states:
                running_total += 1
            if tags.get("loadtest:env") != args.env:
                continue
            if state != "terminated":
                not_terminated += 1
            if state in live_states:
                by_role[tags.get("loadtest:role", "<untagged>")] += 1

    groups = []
    for group in paginate(autoscaling, "describe_auto_scaling_groups", "AutoScalingGroups"):
        tags = {t["Key"]: t["Value"] for t in group.get("Tags", [])}
        if tags.get("loadtest:env") != args.env:
            continue
        groups.append(
            {
                "name": group["AutoScalingGroupName"],
                "desired": group["DesiredCapacity"],
                "min": group["MinSize"],
                "max": group["MaxSize"],
                "instances": len(group.get("Instances", [])),
                "tags": tags,
                "propagated_tags": sorted(
                    t["Key"] for t in group.get("Tags", []) if t.get("PropagateAtLaunch")
                ),
            }
        )

    albs = list(paginate(elbv2, "describe_load_balancers", "LoadBalancers"))
    classic = list(paginate(elb, "describe_load_balancers", "LoadBalancerDescriptions"))
    env_albs = 0
    arns = [lb["LoadBalancerArn"] for lb in albs]
    for i in range(0, len(arns), 20):
        for description in elbv2.describe_tags(ResourceArns=arns[i : i + 20])["TagDescriptions"]:
            tags = {t["Key"]: t["Value"] for t in description.get("Tags", [])}
            if tags.get("loadtest:env") == args.env:
                env_albs += 1

    json.dump(
        {
            "instances_by_role": dict(sorted(by_role.items())),
            "instances_not_terminated": not_terminated,
            "running_instances_total": running_total,
            "autoscaling_groups": groups,
            "load_balancers": len(albs) + len(classic),
            "load_balancers_env": env_albs,
        },
        sys.stdout,
        indent=2,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
