"""A fake LTI 1.3 platform (a Moodle stand-in) for the tests.

It has its own RSA keys (jwcrypto) and signs id_tokens with them (PyJWT); it serves
its JWKS, an OAuth2 token endpoint (which verifies our client-assertion JWT against
the tool's published JWKS), NRPS members (paged) and AGS line items and scores on
127.0.0.1 through pytest-httpserver, and verifies the tool's deep-linking responses.
The browser side (the OIDC auth endpoint) is played by `FakePlatform.launch`, which
drives the tool's login and launch endpoints with a Django test client exactly as
the platform's redirects would.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import jwt
from django.test import Client
from jwcrypto.jwk import JWK
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

ISSUER = "https://odtuclass.test"
CLIENT_ID = "ceng501-client"
DEPLOYMENT_ID = "1"
CONTEXT_ID = "course-4242"
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
ROLES = {
    "instructor": [MEMBERSHIP + "Instructor"],
    "ta": [MEMBERSHIP + "Instructor", MEMBERSHIP + "Instructor#TeachingAssistant"],
    "student": [MEMBERSHIP + "Learner"],
    "admin": ["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"],
}
AGS_SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
]


def new_key(kid: str) -> tuple[JWK, str]:
    key = JWK.generate(kty="RSA", size=2048, kid=kid, alg="RS256", use="sig")
    return key, key.export_to_pem(private_key=True, password=None).decode()


@dataclass
class Person:
    sub: str
    given_name: str
    family_name: str
    email: str
    role: str = "student"
    student_number: str = ""
    status: str = "Active"

    def member(self) -> dict:
        entry = {"user_id": self.sub, "given_name": self.given_name, "family_name": self.family_name,
                 "name": f"{self.given_name} {self.family_name}", "email": self.email,
                 "roles": ROLES[self.role], "status": self.status}
        if self.student_number:
            entry["lis_person_sourcedid"] = self.student_number
        return entry


@dataclass
class FakePlatform:
    server: HTTPServer
    key: JWK = field(init=False)
    key_pem: str = field(init=False)
    members: list[Person] = field(default_factory=list)
    page_size: int = 50
    line_items: list[dict] = field(default_factory=list)
    scores: list[dict] = field(default_factory=list)  # every score POST the platform accepted
    score_failures: list[int] = field(default_factory=list)  # HTTP statuses to answer next, in order
    score_requests: int = 0
    token_requests: list[dict] = field(default_factory=list)
    jwks_requests: int = 0
    tool_jwks: dict | None = None  # set by the test: what the tool publishes

    def __post_init__(self) -> None:
        self.key, self.key_pem = new_key("platform-key-1")
        s = self.server
        s.expect_request("/jwks").respond_with_handler(self._jwks)
        s.expect_request("/token", method="POST").respond_with_handler(self._token)
        s.expect_request("/nrps/members").respond_with_handler(self._members)
        s.expect_request("/ags/lineitems", method="GET").respond_with_handler(self._lineitems_get)
        s.expect_request("/ags/lineitems", method="POST").respond_with_handler(self._lineitems_post)
        s.expect_request(re.compile(r"^/ags/lineitems/\d+/scores$"), method="POST").respond_with_handler(
            self._score)
        s.expect_request("/auth").respond_with_handler(self._auth)
        s.expect_request("/course").respond_with_handler(self._course_page)
        self.people: dict[str, Person] = {}  # by sub: who the browser is signed in to the platform as
        self.tool_login_url = ""  # set by a browser test: where the course page's iframe points

    # --- registration values -------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def registration(self) -> dict:
        return {
            "name": "ODTUClass (test)", "issuer": ISSUER, "client_id": CLIENT_ID,
            "auth_login_url": ISSUER + "/mod/lti/auth.php", "auth_token_url": self.url("/token"),
            "key_set_url": self.url("/jwks"), "deployment_ids": DEPLOYMENT_ID,
        }

    def rotate_key(self) -> None:
        self.key, self.key_pem = new_key(f"platform-key-{uuid.uuid4().hex[:6]}")

    # --- HTTP endpoints ----------------------------------------------------------------------
    def _jwks(self, request: Request) -> Response:
        self.jwks_requests += 1
        return Response(json.dumps({"keys": [json.loads(self.key.export_public())]}),
                        content_type="application/json")

    def _token(self, request: Request) -> Response:
        assertion = request.form.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            keys = {k["kid"]: k for k in (self.tool_jwks or {}).get("keys", [])}
            public = JWK(**keys[header["kid"]]).export_to_pem()
            claims = jwt.decode(assertion, public, algorithms=["RS256"], audience=self.url("/token"))
            assert claims["iss"] == CLIENT_ID and claims["sub"] == CLIENT_ID
        except Exception as exc:  # noqa: BLE001 - any failure is a refused client
            return Response(json.dumps({"error": "invalid_client", "detail": str(exc)}), status=401,
                            content_type="application/json")
        self.token_requests.append({"kid": header["kid"], "scope": request.form.get("scope", "")})
        return Response(json.dumps({"access_token": "tok-" + uuid.uuid4().hex, "token_type": "Bearer",
                                    "expires_in": 3600}), content_type="application/json")

    @staticmethod
    def _authorised(request: Request) -> bool:
        return request.headers.get("Authorization", "").startswith("Bearer tok-")

    def _members(self, request: Request) -> Response:
        if not self._authorised(request):
            return Response("no token", status=401)
        start = int(request.args.get("page", "0"))
        page = self.members[start:start + self.page_size]
        headers = {}
        if start + self.page_size < len(self.members):
            headers["Link"] = f'<{self.url("/nrps/members")}?page={start + self.page_size}>; rel="next"'
        body = {"id": self.url("/nrps/members"), "context": {"id": CONTEXT_ID},
                "members": [p.member() for p in page]}
        return Response(json.dumps(body), headers=headers,
                        content_type="application/vnd.ims.lti-nrps.v2.membershipcontainer+json")

    def _lineitems_get(self, request: Request) -> Response:
        if not self._authorised(request):
            return Response("no token", status=401)
        return Response(json.dumps(self.line_items), content_type="application/vnd.ims.lis.v2.lineitemcontainer+json")

    def _lineitems_post(self, request: Request) -> Response:
        if not self._authorised(request):
            return Response("no token", status=401)
        item = json.loads(request.get_data(as_text=True))
        item["id"] = self.url(f"/ags/lineitems/{len(self.line_items) + 1}")
        self.line_items.append(item)
        return Response(json.dumps(item), status=201, content_type="application/vnd.ims.lis.v2.lineitem+json")

    def _score(self, request: Request) -> Response:
        if not self._authorised(request):
            return Response("no token", status=401)
        self.score_requests += 1
        if self.score_failures:
            status = self.score_failures.pop(0)
            return Response(json.dumps({"error": f"answer {status}"}), status=status, content_type="application/json")
        score = json.loads(request.get_data(as_text=True))
        score["lineitem"] = request.path.rsplit("/scores", 1)[0]
        self.scores.append(score)
        return Response("", status=200)

    def _auth(self, request: Request) -> Response:
        """The OIDC authentication endpoint: answers with the signed id_token, auto-posted like Moodle does."""
        args = request.args
        person = self.people[args["login_hint"]]
        token = self.sign(self.claims(person, nonce=args["nonce"]))
        html = (f'<form id="f" method="post" action="{args["redirect_uri"]}">'
                f'<input type="hidden" name="id_token" value="{token}">'
                f'<input type="hidden" name="state" value="{args["state"]}"></form>'
                '<script>document.getElementById("f").submit()</script>')
        return Response(html, content_type="text/html")

    def _course_page(self, request: Request) -> Response:
        """A course page that embeds the tool in an iframe, as Moodle's "Embed" launch container does."""
        return Response(f'<h1>ODTUClass</h1><iframe id="tool" src="{self.tool_login_url}" width="900" '
                        'height="600"></iframe>', content_type="text/html")

    # --- claims -------------------------------------------------------------------------------
    def claims(self, person: Person, *, nonce: str, message_type: str = "LtiResourceLinkRequest",
               target_link_uri: str = "", custom: dict | None = None, exp_in: int = 300,
               aud: str = CLIENT_ID, deployment_id: str = DEPLOYMENT_ID) -> dict:
        now = int(time.time())
        body = {
            "iss": ISSUER, "aud": aud, "sub": person.sub, "iat": now, "exp": now + exp_in, "nonce": nonce,
            "given_name": person.given_name, "family_name": person.family_name, "email": person.email,
            "name": f"{person.given_name} {person.family_name}",
            CLAIM + "deployment_id": deployment_id, CLAIM + "message_type": message_type,
            CLAIM + "version": "1.3.0", CLAIM + "roles": ROLES[person.role],
            CLAIM + "context": {"id": CONTEXT_ID, "label": "CENG501", "title": "CENG 501 Deep Learning"},
            CLAIM + "target_link_uri": target_link_uri,
            CLAIM + "lis": {"person_sourcedid": person.student_number} if person.student_number else {},
            "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
                "context_memberships_url": self.url("/nrps/members"), "service_versions": ["2.0"]},
            "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {
                "scope": AGS_SCOPES, "lineitems": self.url("/ags/lineitems")},
        }
        if message_type == "LtiResourceLinkRequest":
            body[CLAIM + "resource_link"] = {"id": "rl-1", "title": "CENG 501 site"}
        else:
            body["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"] = {
                "deep_link_return_url": ISSUER + "/mod/lti/contentitem_return.php",
                "accept_types": ["ltiResourceLink"], "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": True, "data": "moodle-dl-data-77",
            }
        if custom:
            body[CLAIM + "custom"] = custom
        return body

    def sign(self, body: dict, *, pem: str | None = None, kid: str | None = None) -> str:
        return jwt.encode(body, pem or self.key_pem, algorithm="RS256",
                          headers={"kid": kid or self.key.get("kid")})

    # --- the browser's round trip ------------------------------------------------------------
    def login(self, client: Client, *, person: Person, target: str = "https://tool.test/lti/launch/",
              client_id: str = CLIENT_ID, secure: bool = False):
        """Initiate login as Moodle does (the new-window pass of the cookie check). Returns the response."""
        return client.get("/lti/login/", {
            "iss": ISSUER, "login_hint": person.sub, "target_link_uri": target, "client_id": client_id,
            "lti_deployment_id": DEPLOYMENT_ID, "lti_message_hint": "hint-1", "lti1p3_new_window": "1",
        }, secure=secure)

    def launch(self, client: Client, person: Person, *, secure: bool = False, sign_with: str | None = None,
               kid: str | None = None, **claim_kwargs) -> tuple:
        """Full launch: login → (platform auth) → POST id_token. Returns (response, id_token, state)."""
        login = self.login(client, person=person, secure=secure)
        assert login.status_code == 302, login.content[:500]
        params = parse_qs(urlsplit(login["Location"]).query)
        assert params["client_id"] == [CLIENT_ID] and params["response_mode"] == ["form_post"]
        state, nonce = params["state"][0], params["nonce"][0]
        token = self.sign(self.claims(person, nonce=nonce, **claim_kwargs), pem=sign_with, kid=kid)
        response = client.post("/lti/launch/", {"id_token": token, "state": state}, secure=secure)
        return response, token, state

    def verify_deep_link_response(self, html: str) -> dict:
        """The tool's auto-submitted form: check where it goes and its JWT's signature and claims."""
        action = re.search(r'action="([^"]+)"', html).group(1)
        assert action == ISSUER + "/mod/lti/contentitem_return.php"
        token = re.search(r'name="JWT" value="([^"]+)"', html).group(1)
        header = jwt.get_unverified_header(token)
        keys = {k["kid"]: k for k in (self.tool_jwks or {}).get("keys", [])}
        public = JWK(**keys[header["kid"]]).export_to_pem()
        return jwt.decode(token, public, algorithms=["RS256"], audience=ISSUER, issuer=CLIENT_ID)
