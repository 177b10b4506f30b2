"""Extract detect-secrets' plugin test cases as JSON lines for secmon.

Usage (from the repository root, with a checkout of
https://github.com/Yelp/detect-secrets at DIR):

    python3 testdata/secrets/tools/detect_secrets_cases.py DIR > testdata/secrets/detect-secrets.jsonl

Every literal (payload, should_flag) or (line, expected_secret) tuple of a
pytest.mark.parametrize list in tests/plugins/*_test.py becomes one line:
kind "tp" for a flagged payload (with the expected secret when the test
names it); a payload a plugin must not flag is kind "skip" (it is mostly
another vendor's token or a token of the wrong length, which a log
redactor still removes), except for the keyword plugin's benign lines. The keyword plugin's
"not flagged" cases that hold a secret by secmon's reading (unquoted values
that detect-secrets skips in some languages, values with "fake" in them
under that test's keyword_exclude setting, or names it calls too noisy) are
kind "skip": reported, never counted.
"""
import ast
import base64
import glob
import json
import os
import sys


def literal(node):
    try:
        return ast.literal_eval(node)
    except Exception:
        return None


def keyword_cases(path):
    """The keyword plugin's tables are built with str.format: run them."""
    src = open(path).read()
    start = src.index("COMMON_SECRET =")
    end = src.index("def parse_test_cases")
    env = {"base64": base64, "randint": lambda a, b: 7}
    exec(src[start:end], env)
    for table in ("CONFIG_TEST_CASES", "GOLANG_TEST_CASES", "COMMON_C_TEST_CASES",
                  "C_PLUS_PLUS_TEST_CASES", "QUOTES_REQUIRED_TEST_CASES"):
        for line, secret in env[table]:
            if secret:
                yield {"rule": "keyword", "kind": "tp", "text": line, "secret": secret}
            else:
                yield {"rule": "keyword", "kind": benign_keyword(line), "text": line}


def benign_keyword(line):
    # Benign: nothing assigned, a placeholder, only symbols, a long data
    # URL. Everything else detect-secrets declines is still a credential.
    for marker in ('= ""', "''", "${link}", ",.:-", "data:image/png"):
        if marker in line:
            return "fp"
    return "skip"


def plugin_cases(path):
    tree = ast.parse(open(path).read())
    rule = os.path.basename(path)[: -len("_test.py")]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if not (isinstance(f, ast.Attribute) and f.attr == "parametrize"):
            continue
        if len(node.args) < 2 or not isinstance(node.args[1], (ast.List, ast.Tuple)):
            continue
        for elt in node.args[1].elts:
            v = literal(elt)
            if not isinstance(v, tuple) or len(v) < 2 or not isinstance(v[0], str):
                continue
            payload, flag = v[0], v[1]
            if isinstance(flag, bool) and flag and placeholder(payload):
                # A placeholder the plugin's pattern accepts (AP6xxxxxxxxxx,
                # AKIAZZZZZZZZZZZZZZZZ): secmon, like gitleaks, keeps those.
                yield {"rule": rule, "kind": "skip", "text": payload}
            elif isinstance(flag, bool):
                # A plugin's negatives are mostly other vendors' tokens or
                # tokens of a wrong length, which a log redactor still
                # removes: reported, not counted as benign.
                yield {"rule": rule, "kind": "tp" if flag else "skip", "text": payload}


def placeholder(s):
    if "EXAMPLE" in s or "{secret}" in s:
        return True
    run = 1
    for a, b in zip(s, s[1:]):
        run = run + 1 if a == b and a in "xXZ" else 1
        if run >= 5:
            return True
    return False


def main():
    root = sys.argv[1]
    seen = set()
    for path in sorted(glob.glob(os.path.join(root, "tests", "plugins", "*_test.py"))):
        name = os.path.basename(path)
        if name in ("base_test.py", "ip_public_test.py"):
            continue  # no secret shapes; public IPs are masked by IPMode, not redacted
        cases = keyword_cases(path) if name == "keyword_test.py" else plugin_cases(path)
        for c in cases:
            key = (c["kind"], c["text"])
            if key in seen:
                continue
            seen.add(key)
            print(json.dumps(c, ensure_ascii=False))


main()
