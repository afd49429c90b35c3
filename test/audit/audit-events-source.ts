import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

/**
 * What the code can write into an audit record's `reason`, read from the source with the
 * TypeScript checker: every string literal of an exported `…Reason` type alias in src/, and of
 * the `reason` member of every object literal that also names an `action` (an audit event).
 */
export function reasonsInCode(): { reasons: Map<string, Set<string>>; decisions: Set<string> } {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const config = ts.readConfigFile(path.join(root, "tsconfig.json"), (file) => ts.sys.readFile(file));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  const program = ts.createProgram(parsed.fileNames.filter((file) => file.includes(`${path.sep}src${path.sep}`)), parsed.options);
  const checker = program.getTypeChecker();
  const reasons = new Map<string, Set<string>>();
  const decisions = new Set<string>();
  const note = (reason: string, where: string) => {
    const set = reasons.get(reason) ?? new Set<string>();
    set.add(where);
    reasons.set(reason, set);
  };
  const literals = (type: ts.Type): string[] =>
    type.isUnion() ? type.types.flatMap(literals) : type.isStringLiteral() ? [type.value] : [];

  for (const source of program.getSourceFiles()) {
    if (source.isDeclarationFile || !source.fileName.includes(`${path.sep}src${path.sep}`)) continue;
    const file = path.relative(root, source.fileName);
    const visit = (node: ts.Node): void => {
      if (ts.isTypeAliasDeclaration(node) && node.name.text.endsWith("Reason")) {
        for (const value of literals(checker.getTypeAtLocation(node.name))) note(value, `${file}: ${node.name.text}`);
      }
      if (ts.isTypeAliasDeclaration(node) && node.name.text === "AuditDecision") {
        for (const value of literals(checker.getTypeAtLocation(node.name))) decisions.add(value);
      }
      if (ts.isObjectLiteralExpression(node)) {
        const members = new Map(node.properties.filter(ts.isPropertyAssignment).map((p) => [p.name.getText(source), p] as const));
        const reason = members.get("reason");
        if (reason !== undefined && members.has("action")) {
          for (const value of literals(checker.getTypeAtLocation(reason.initializer))) note(value, file);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return { reasons, decisions };
}
