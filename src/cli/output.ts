/**
 * How read commands print: a table a person can scan by default, or `--json` for scripts
 * (the API's own JSON, one document on stdout). Tables go to stdout too; notes go to stderr.
 */

export interface Column<Row> {
  readonly header: string;
  readonly value: (row: Row) => string | number | boolean | null | undefined;
}

/** Text safe to print in a cell: control characters become `?`, so a name cannot move the cursor. */
function cellText(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined || value === "") return "-";
  let text = "";
  for (const character of String(value)) {
    const code = character.codePointAt(0) ?? 0;
    text += code < 0x20 || (code >= 0x7f && code < 0xa0) ? "?" : character;
  }
  return text;
}

/** Rows as a left-aligned table with a header line; "(none)" when there are no rows. */
export function formatTable<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  if (rows.length === 0) return "(none)";
  const cells = rows.map((row) => columns.map((column) => cellText(column.value(row))));
  const widths = columns.map((column, index) => Math.max(column.header.length, ...cells.map((line) => line[index]?.length ?? 0)));
  const line = (values: readonly string[]) => values.map((value, index) => value.padEnd(widths[index] ?? 0)).join("  ").trimEnd();
  return [line(columns.map((column) => column.header)), ...cells.map(line)].join("\n");
}

/** One record as `key: value` lines. */
export function formatRecord(fields: readonly (readonly [string, string | number | boolean | null | undefined])[]): string {
  const width = Math.max(...fields.map(([key]) => key.length));
  return fields.map(([key, value]) => `${`${key}:`.padEnd(width + 1)} ${cellText(value)}`).join("\n");
}

/** Prints `body` as JSON when asked, else what `asText` makes of it. */
export function printResult<Body>(body: Body, options: { readonly json?: boolean | undefined }, asText: (body: Body) => string): void {
  console.log(options.json === true ? JSON.stringify(body, null, 2) : asText(body));
}
