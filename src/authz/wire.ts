import { v1 } from "@authzed/authzed-node";
import { CustosError } from "../platform/errors.ts";
import type { CheckRequest, Relation, Relationship, RelationshipFilter } from "./authorizer.ts";
import { parseObjectId, type ObjectRef, type ObjectType } from "./object-ids.ts";

/** Translation between the port's types and SpiceDB's protobuf messages, in both directions. */

const OBJECT_TYPES: readonly ObjectType[] = ["user", "node", "domain", "secret"];
const RELATIONS: readonly Relation[] = ["domain", "admin", "auditor", "reader"];

export function toObject(ref: ObjectRef): v1.ObjectReference {
  return v1.ObjectReference.create({ objectType: ref.type, objectId: ref.id });
}

export function toSubject(ref: ObjectRef): v1.SubjectReference {
  return v1.SubjectReference.create({ object: toObject(ref), optionalRelation: "" });
}

export function toBulkItem(request: CheckRequest): v1.CheckBulkPermissionsRequestItem {
  return v1.CheckBulkPermissionsRequestItem.create({
    resource: toObject(request.resource),
    permission: request.permission,
    subject: toSubject(request.subject),
  });
}

export function toRelationship(rel: Relationship): v1.Relationship {
  return v1.Relationship.create({ resource: toObject(rel.resource), relation: rel.relation, subject: toSubject(rel.subject) });
}

export function toFilter(filter: RelationshipFilter): v1.RelationshipFilter {
  return v1.RelationshipFilter.create({
    resourceType: filter.resourceType,
    optionalResourceId: filter.resourceId ?? "",
    optionalRelation: filter.relation ?? "",
    optionalSubjectFilter: filter.subject === undefined
      ? undefined
      : v1.SubjectFilter.create({ subjectType: filter.subject.type, optionalSubjectId: filter.subject.id }),
  });
}

/** Something SpiceDB holds that this schema cannot have produced: treat the store as unusable. */
function unexpected(what: string): CustosError {
  return new CustosError("authz_unavailable", { detail: "the authorization service returned unexpected data", cause: new Error(what) });
}

function fromObject(object: v1.ObjectReference | undefined): ObjectRef {
  const type = OBJECT_TYPES.find((candidate) => candidate === object?.objectType);
  if (object === undefined || type === undefined) throw unexpected(`object type ${object?.objectType ?? "(none)"}`);
  try {
    return { type, id: parseObjectId(object.objectId) };
  } catch {
    throw unexpected(`object id not in Custos encoding (${type})`);
  }
}

export function fromRelationship(rel: v1.Relationship | undefined): Relationship {
  const relation = RELATIONS.find((candidate) => candidate === rel?.relation);
  if (rel === undefined || relation === undefined) throw unexpected(`relation ${rel?.relation ?? "(none)"}`);
  if (rel.subject?.optionalRelation !== undefined && rel.subject.optionalRelation !== "") {
    throw unexpected("subject set");
  }
  return { resource: fromObject(rel.resource), relation, subject: fromObject(rel.subject?.object) };
}
