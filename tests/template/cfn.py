"""Loads template.yaml the way CloudFormation sees it, for the tests in this package.

`expand` runs cfn-lint's implementation of the AWS::LanguageExtensions transform, so the
per-cluster resources of Fn::ForEach exist as they will after deployment. The SAM transform is
not applied: AWS::Serverless::Function stays as written.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator, Mapping

import cfnlint.decode
from cfnlint.template import Template
from cfnlint.template.transforms.transform import Transform

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION = "eu-central-1"
PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "cpwatch-test",
    "AWS::URLSuffix": "amazonaws.com",
}
CLUSTERS = ("prod-a", "prod_b")


def load() -> dict[str, Any]:
    """template.yaml as plain JSON-like data (short-form tags become Fn:: mappings)."""
    decoded, matches = cfnlint.decode.decode(str(TEMPLATE))
    if matches:
        raise AssertionError(f"template.yaml does not parse: {[str(m) for m in matches]}")
    return json.loads(json.dumps(decoded))


def expand(parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The template after Fn::ForEach, for the given parameter values (defaults otherwise).

    ClusterNames defaults to CLUSTERS. The transform reads collections from parameter
    defaults, so the values are written in as defaults.
    """
    values = {"ClusterNames": ",".join(CLUSTERS), **(parameters or {})}
    decoded, _ = cfnlint.decode.decode(str(TEMPLATE))
    template = copy.deepcopy(decoded)
    for name, value in values.items():
        template["Parameters"][name]["Default"] = value
    cfn = Template(str(TEMPLATE), template, [REGION])
    matches = Transform().transform(cfn)
    if matches:
        raise AssertionError(f"language extensions failed: {[str(m) for m in matches]}")
    return json.loads(json.dumps(cfn.template))


def resources_of_type(template: Mapping[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == type_name}


def logical_id(prefix: str, cluster: str) -> str:
    """Logical ID that Fn::ForEach derives with &{ClusterName}: non-alphanumerics removed."""
    return prefix + re.sub("[^0-9A-Za-z]", "", cluster)


_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


def render_sub(value: Any, template: Mapping[str, Any], extra: Mapping[str, str] | None = None) -> str:
    """The string a Fn::Sub (or plain string) yields.

    Pseudo parameters get PSEUDO values, template parameters their defaults, and resource
    references (`${Name}`, `${Name.Attr}`) a recognisable stand-in `<Name>` / `<Name.Attr>`.
    """
    if isinstance(value, str):
        return value
    if not (isinstance(value, dict) and list(value) == ["Fn::Sub"]):
        raise AssertionError(f"not a string or Fn::Sub: {value!r}")
    body = value["Fn::Sub"]
    local: dict[str, Any] = {}
    if isinstance(body, list):
        body, local = body[0], body[1]
    parameters = template.get("Parameters", {})

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if extra and name in extra:
            return extra[name]
        if name in local:
            return render_sub(local[name], template, extra)
        if name in PSEUDO:
            return PSEUDO[name]
        if name in parameters and "Default" in parameters[name]:
            return str(parameters[name]["Default"])
        target = name.split(".")[0]
        if target in template.get("Resources", {}):
            return f"<{name}>"
        raise AssertionError(f"Fn::Sub variable ${{{name}}} resolves to nothing")

    return _SUB_VARIABLE.sub(replace, body).replace("${!", "${")


def walk(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) below node, both branches of each Fn::If included."""
    yield path, node
    if isinstance(node, dict):
        for key, child in node.items():
            yield from walk(child, path + (key,))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from walk(child, path + (index,))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Statements of a policy document; a Fn::If statement contributes both branches."""
    found = []
    for item in as_list(document["Statement"]):
        if isinstance(item, dict) and "Fn::If" in item:
            found.extend(b for b in item["Fn::If"][1:] if b != {"Ref": "AWS::NoValue"})
        else:
            found.append(item)
    return found


# Every optional part switched on: VPC, cross-account roles, access entries, e-mail.
ALL_OPTIONS = {
    "SubnetIds": "subnet-0123456789abcdef0",
    "SecurityGroupIds": "sg-0123456789abcdef0",
    "CrossAccountRoleArns": "arn:aws:iam::210987654321:role/cpwatch-reader",
    "CreateAccessEntries": "true",
    "AlertEmail": "oncall@example.com",
}


def main(argv: list[str]) -> int:
    """`python -m tests.template.cfn OUT.json`: write the expanded template (two clusters,
    every option on) for scanners that skip Fn::ForEach, such as checkov."""
    if len(argv) != 1:
        print("usage: python -m tests.template.cfn OUT.json", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(expand(ALL_OPTIONS), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
