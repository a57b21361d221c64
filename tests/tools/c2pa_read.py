"""The reference C2PA SDK's view of an evidence package (c2pa-python, not our code).

    c2pa_read.py [--trust ANCHORS.pem] ASSET[=SIDECAR] ...

Reads each asset with c2pa-python: with its sidecar manifest when one is given, else its embedded
manifest. Prints one JSON list: per asset its validation state, the failure codes, the active
manifest's label, title and format, its parent ingredient's manifest label, the hard binding, and
the org.evidence-pipeline.recording assertion. Exit 0 always; the caller judges.
"""
import json
import mimetypes
import sys

import c2pa

FORMATS = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".avi": "video/avi"}


def fmt(path):
    ext = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return FORMATS.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def read(asset, sidecar, context):
    with open(asset, "rb") as f:
        if sidecar:
            with open(sidecar, "rb") as s:
                data = s.read()
            # A whole-file binding is format-independent; read it under the generic format, as
            # the sealer's verifier does, unless the asset's own format is one c2pa handles.
            r = c2pa.Reader(fmt(asset), f, manifest_data=data, context=context)
        else:
            r = c2pa.Reader(fmt(asset), f, context=context)
        store = json.loads(r.json())
    active = store.get("manifests", {}).get(store.get("active_manifest") or "", {})
    failures = [x.get("code") for x in (store.get("validation_results") or {}).get("activeManifest", {}).get("failure", [])]
    parent = next((i for i in active.get("ingredients", []) if i.get("relationship") == "parentOf"), {})
    recording = next((a.get("data") for a in active.get("assertions", []) if a.get("label") == "org.evidence-pipeline.recording"), None)
    successes = [x.get("code") for x in (store.get("validation_results") or {}).get("activeManifest", {}).get("success", [])]
    return {
        "asset": asset,
        "state": store.get("validation_state"),
        "failures": failures,
        "successes": successes,
        "label": store.get("active_manifest"),
        "title": active.get("title"),
        "format": active.get("format"),
        "parent_manifest": parent.get("active_manifest"),
        "parent_title": parent.get("title"),
        "recording": recording,
    }


def main(argv):
    trust = None
    if len(argv) > 1 and argv[0] == "--trust":
        with open(argv[1]) as t:
            trust = t.read()
        argv = argv[2:]
    settings = {"verify": {"verify_trust": trust is not None}}
    if trust:
        settings["trust"] = {"trust_anchors": trust}
    context = c2pa.Context(settings=c2pa.Settings.from_json(json.dumps(settings)))
    out = []
    for arg in argv:
        asset, _, sidecar = arg.partition("=")
        try:
            out.append(read(asset, sidecar or None, context))
        except Exception as e:  # the caller asserts on it
            out.append({"asset": asset, "state": None, "error": f"{type(e).__name__}: {e}"})
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
