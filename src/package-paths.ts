import { fileURLToPath } from "node:url";

/** The package root, whether running from src/ (tsx) or dist/ (built). */
export const PACKAGE_ROOT = fileURLToPath(new URL("..", import.meta.url));
export const MIGRATIONS_DIR = fileURLToPath(new URL("../migrations", import.meta.url));
export const POLICIES_DIR = fileURLToPath(new URL("../policies", import.meta.url));
