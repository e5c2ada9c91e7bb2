/**
 * The Cedar schema every policy is validated against (strict mode), at start-up and on each reload.
 * Principals are users, robots, federated (OIDC) identities and the anonymous caller, members of groups;
 * resources are repositories inside nested namespaces inside the registry, with the labels operators
 * set (`cairn admin labels`); the context is what the request brings.
 */
export const CEDAR_SCHEMA = `
namespace Cairn {
  entity Registry;
  entity Group;
  entity Namespace in [Namespace, Registry] = {
    "ownerTeam"?: Group,
    "sensitivity"?: String,
  };
  entity Repository in [Namespace, Registry] = {
    "name": String,
    "ownerTeam"?: Group,
    "sensitivity"?: String,
  };
  entity User in [Group];
  entity Robot in [Group];
  entity Federated in [Group] = {
    "issuer": String,
    "subject": String,
  };
  entity Anonymous;

  type RequestContext = {
    "authenticated": Bool,
    "mfa": Bool,
    "sourceIp": __cedar::ipaddr,
    "hour": Long,
    "weekday": Long,
    "now": Long,
    "targetStage"?: String,
  };

  action pull, push, delete, tag, approve appliesTo {
    principal: [User, Robot, Federated, Anonymous],
    resource: [Repository],
    context: RequestContext,
  };
  action admin, "read-audit" appliesTo {
    principal: [User, Robot, Federated, Anonymous],
    resource: [Registry, Namespace],
    context: RequestContext,
  };
}
`;
