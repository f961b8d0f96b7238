#!/usr/bin/env python3
"""Checks of the bot's IAM policy and of what terraform/bootstrap created, in an AWS API (the
local emulator in the tests). Run with the moto venv's Python (it has boto3 and botocore).

    bot_policy.py check-policy --policy FILE --endpoint URL
        The policy as IAM reads it: structure, Sids, size limit of a managed policy, every
        action well-formed and naming real API operations (botocore's service models, plus the
        IAM-only action names listed below), and the emulator's CreatePolicy accepts it while
        refusing a deliberately broken copy (so its validation really ran).

    bot_policy.py inspect-bootstrap --endpoint URL --policy-arn ARN --bucket B --table T
        [--role R] [--user U] [--instance-profile P]
        What the bootstrap root left in the emulator: the managed policy's default version,
        the bucket's versioning, encryption, public access block and policy, the lock table's
        key and billing mode, and the role / user / instance profile with the policy attached.

check-policy prints one JSON summary and exits 0, or exits 1 with every problem on stderr;
inspect-bootstrap prints what it read as one JSON object for the calling test to judge.
"""
import argparse
import copy
import fnmatch
import json
import re
import sys

import boto3
import botocore.session

# IAM action prefix -> botocore service models whose operations the prefix authorises.
SERVICE_MODELS = {
    "autoscaling": ["autoscaling"],
    "dynamodb": ["dynamodb"],
    "ec2": ["ec2"],
    "elasticloadbalancing": ["elbv2", "elb"],
    "iam": ["iam"],
    "s3": ["s3"],
    "servicequotas": ["service-quotas"],
    "ssm": ["ssm"],
}

# Actions that exist in IAM but not as an API operation of the same name (permission-only
# actions, or S3's older names for its operations), from AWS's Service Authorization Reference.
IAM_ONLY_ACTIONS = {
    "iam": {"PassRole"},
    "s3": {
        "ListBucket", "ListBucketVersions", "GetObjectVersion", "DeleteObjectVersion",
        "GetEncryptionConfiguration", "PutEncryptionConfiguration",
        "GetLifecycleConfiguration", "PutLifecycleConfiguration",
        "GetReplicationConfiguration", "GetAccelerateConfiguration",
        "GetBucketObjectLockConfiguration", "GetBucketCORS",
        "GetBucketPublicAccessBlock", "PutBucketPublicAccessBlock",
    },
}

# A managed policy may hold 6,144 characters, white space not counted.
MANAGED_POLICY_LIMIT = 6144

ACTION_PATTERN = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")
SID_PATTERN = re.compile(r"^[A-Za-z0-9]+$")


def client(service, endpoint, region="us-east-1"):
    kwargs = {"region_name": region}
    if endpoint:
        kwargs.update(endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test")
    return boto3.client(service, **kwargs)


def as_list(value):
    return value if isinstance(value, list) else [value]


def known_actions():
    session = botocore.session.get_session()
    known = {}
    for prefix, models in SERVICE_MODELS.items():
        names = set(IAM_ONLY_ACTIONS.get(prefix, set()))
        for model in models:
            names.update(session.get_service_model(model).operation_names)
        known[prefix] = names
    return known


def check_policy(args):
    problems = []
    text = open(args.policy, encoding="utf-8").read()
    policy = json.loads(text)

    if policy.get("Version") != "2012-10-17":
        problems.append(f"Version is {policy.get('Version')!r}, not \"2012-10-17\"")
    statements = policy.get("Statement")
    if not isinstance(statements, list) or not statements:
        problems.append("Statement must be a non-empty list")
        statements = []

    size = len("".join(text.split()))
    if size > MANAGED_POLICY_LIMIT:
        problems.append(f"{size} characters without white space: over the managed policy limit {MANAGED_POLICY_LIMIT}")

    known = known_actions()
    sids = []
    actions = []
    for index, statement in enumerate(statements):
        sid = statement.get("Sid")
        where = f"statement {index} ({sid})"
        if not isinstance(sid, str) or not SID_PATTERN.match(sid):
            problems.append(f"{where}: every statement needs a Sid of letters and digits")
        sids.append(sid)
        if statement.get("Effect") != "Allow":
            problems.append(f"{where}: Effect must be Allow (the bot's policy grants, it never denies)")
        if "Action" not in statement or "Resource" not in statement:
            problems.append(f"{where}: needs Action and Resource")
            continue
        for resource in as_list(statement["Resource"]):
            if resource != "*" and not resource.startswith("arn:aws:"):
                problems.append(f"{where}: resource {resource!r} is neither * nor an arn:aws: ARN")
        for action in as_list(statement["Action"]):
            actions.append(action)
            if not ACTION_PATTERN.match(action):
                problems.append(f"{where}: malformed action {action!r}")
                continue
            prefix, name = action.split(":", 1)
            if prefix not in known:
                problems.append(f"{where}: unknown service prefix in {action!r}")
                continue
            matches = [op for op in known[prefix] if fnmatch.fnmatchcase(op, name)]
            if not matches:
                problems.append(f"{where}: {action!r} names no {prefix} operation or IAM action")
    duplicates = sorted({sid for sid in sids if sids.count(sid) > 1 and sid})
    if duplicates:
        problems.append(f"duplicate Sids: {duplicates}")

    iam = client("iam", args.endpoint)
    try:
        created = iam.create_policy(PolicyName="bot-policy-check", PolicyDocument=text)["Policy"]["Arn"]
    except Exception as error:  # the emulator's refusal is the finding
        problems.append(f"the emulator's CreatePolicy refused the policy: {error}")
        created = None

    # A broken copy must be refused, or the acceptance above proved nothing.
    broken = copy.deepcopy(policy)
    broken["Statement"][0]["Action"] = ["ec2 Describe*"]
    try:
        iam.create_policy(PolicyName="bot-policy-broken", PolicyDocument=json.dumps(broken))
        problems.append("the emulator accepted a policy with a malformed action: its validation did not run")
        broken_refused = False
    except iam.exceptions.MalformedPolicyDocumentException:
        broken_refused = True

    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(json.dumps({
        "statements": len(statements),
        "actions": len(actions),
        "size_without_whitespace": size,
        "created_policy_arn": created,
        "broken_copy_refused": broken_refused,
    }))
    return 0


def inspect_bootstrap(args):
    iam = client("iam", args.endpoint)
    s3 = client("s3", args.endpoint)
    dynamodb = client("dynamodb", args.endpoint)

    policy = iam.get_policy(PolicyArn=args.policy_arn)["Policy"]
    version = iam.get_policy_version(PolicyArn=args.policy_arn, VersionId=policy["DefaultVersionId"])
    document = version["PolicyVersion"]["Document"]
    if isinstance(document, str):
        document = json.loads(document)

    versioning = s3.get_bucket_versioning(Bucket=args.bucket).get("Status")
    rules = s3.get_bucket_encryption(Bucket=args.bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    encryption = [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules]
    public_access_block = s3.get_public_access_block(Bucket=args.bucket)["PublicAccessBlockConfiguration"]
    bucket_policy = json.loads(s3.get_bucket_policy(Bucket=args.bucket)["Policy"])
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=args.bucket)["Rules"]

    table = dynamodb.describe_table(TableName=args.table)["Table"]
    key_schema = [[k["AttributeName"], k["KeyType"]] for k in table["KeySchema"]]
    attributes = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    billing = table.get("BillingModeSummary", {}).get("BillingMode")

    attached = {}
    if args.role:
        attached["role"] = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=args.role)["AttachedPolicies"]]
        trust = iam.get_role(RoleName=args.role)["Role"]["AssumeRolePolicyDocument"]
        attached["role_trust"] = json.loads(trust) if isinstance(trust, str) else trust
    if args.user:
        attached["user"] = [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=args.user)["AttachedPolicies"]]
    if args.instance_profile:
        profile = iam.get_instance_profile(InstanceProfileName=args.instance_profile)["InstanceProfile"]
        attached["instance_profile_roles"] = [r["RoleName"] for r in profile["Roles"]]

    print(json.dumps({
        "policy_document": document,
        "bucket_versioning": versioning,
        "bucket_encryption": encryption,
        "bucket_public_access_block": public_access_block,
        "bucket_policy": bucket_policy,
        "bucket_lifecycle": lifecycle,
        "table_key_schema": key_schema,
        "table_attributes": attributes,
        "table_billing_mode": billing,
        "attached": attached,
    }, default=str))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check-policy")
    check.add_argument("--policy", required=True)
    check.add_argument("--endpoint", required=True)

    inspect = commands.add_parser("inspect-bootstrap")
    inspect.add_argument("--endpoint", required=True)
    inspect.add_argument("--policy-arn", required=True)
    inspect.add_argument("--bucket", required=True)
    inspect.add_argument("--table", required=True)
    inspect.add_argument("--role")
    inspect.add_argument("--user")
    inspect.add_argument("--instance-profile")

    args = parser.parse_args()
    if args.command == "check-policy":
        return check_policy(args)
    return inspect_bootstrap(args)


if __name__ == "__main__":
    sys.exit(main())
