"""moto's server mode, answering for resources its CloudFormation cannot make.

moto (5.2.5) makes no resource of several types deploy/tokenmeter.yaml declares (CloudFront,
API Gateway v2, Lambda URLs, CloudWatch alarms, Secrets Manager, bucket policies, SNS
subscriptions, saved queries: the README lists them). It then fails every Fn::GetAtt of such a
resource, and a stack whose outputs read one cannot even be described (DescribeStacks answers
500). Here a Ref or Fn::GetAtt of a resource moto did not make reads as the visible placeholder
"unemulated:<LogicalId>[.<Attribute>]" instead, so the stack, its outputs and every resource
moto does make can be checked. Nothing else changes.

Run as moto_server is: python moto_server.py -p PORT
"""

import sys

import moto.cloudformation.parsing as parsing
from moto.server import main

_clean_json = parsing.clean_json


def _unemulated(resources_map, logical_id):
    declared = getattr(resources_map, "_resource_json_map", {}).get(logical_id)
    if not isinstance(declared, dict):
        return False
    kind = declared.get("Type", "")
    return not kind.startswith("Custom::") and kind not in parsing.get_model_map()


def clean_json(resource_json, resources_map):
    if isinstance(resource_json, dict):
        ref = resource_json.get("Ref")
        if isinstance(ref, str) and _unemulated(resources_map, ref):
            return f"unemulated:{ref}"
        get_att = resource_json.get("Fn::GetAtt")
        if isinstance(get_att, list) and len(get_att) == 2 and _unemulated(resources_map, get_att[0]):
            return f"unemulated:{get_att[0]}.{get_att[1]}"
    return _clean_json(resource_json, resources_map)


parsing.clean_json = clean_json

if __name__ == "__main__":
    sys.exit(main())
