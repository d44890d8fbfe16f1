// The `--vscode-*` variables the panel uses, as VS Code sets them on a webview's <html> element in its
// default themes (Light+, Dark+, High Contrast), and the body class it sets for each. The values are the
// defaults of VS Code's color registry (src/vs/platform/theme/common/colors/*.ts and the testing colors)
// and each theme's editor background; a color a theme leaves null is left unset, as VS Code does.
export interface VsCodeTheme { name: "light" | "dark" | "high-contrast"; bodyClass: string; variables: Record<string, string> }

/** Variable → [Light+, Dark+, High Contrast]. */
const DEFAULTS: Record<string, [string, string, string | null]> = {
  "--vscode-foreground": ["#616161", "#cccccc", "#ffffff"],
  "--vscode-descriptionForeground": ["#717171", "#ccccccb3", "#ffffffb3"],
  "--vscode-errorForeground": ["#a1260d", "#f48771", "#f48771"],
  "--vscode-editor-background": ["#ffffff", "#1e1e1e", "#000000"],
  "--vscode-editor-foreground": ["#000000", "#d4d4d4", "#ffffff"],
  "--vscode-contrastBorder": ["", "", "#6fc3df"],
  "--vscode-badge-background": ["#c4c4c4", "#4d4d4d", "#000000"],
  "--vscode-badge-foreground": ["#333333", "#ffffff", "#ffffff"],
  "--vscode-button-background": ["#007acc", "#0e639c", null],
  "--vscode-button-foreground": ["#ffffff", "#ffffff", "#ffffff"],
  "--vscode-button-border": ["", "", "#6fc3df"],
  "--vscode-button-secondaryBackground": ["#5f6a79", "#3a3d41", null],
  "--vscode-button-secondaryForeground": ["#ffffff", "#ffffff", "#ffffff"],
  "--vscode-progressBar-background": ["#0e70c0", "#0e70c0", "#6fc3df"],
  "--vscode-testing-iconPassed": ["#73c991", "#73c991", "#73c991"],
  "--vscode-testing-iconFailed": ["#f14c4c", "#f14c4c", "#f14c4c"],
  "--vscode-editorWarning-foreground": ["#bf8803", "#cca700", "#ffd370"],
  "--vscode-list-warningForeground": ["#855f00", "#cca700", null],
  "--vscode-list-errorForeground": ["#b01011", "#f88070", null],
  "--vscode-textLink-foreground": ["#006ab1", "#3794ff", "#21a6ff"],
  "--vscode-panel-border": ["#80808059", "#80808059", "#6fc3df"],
  "--vscode-focusBorder": ["#0090f1", "#007fd4", "#f38518"],
  "--vscode-sideBar-background": ["#f3f3f3", "#252526", "#000000"],
};

const theme = (name: VsCodeTheme["name"], bodyClass: string, column: 0 | 1 | 2): VsCodeTheme => ({
  name, bodyClass,
  variables: Object.fromEntries(Object.entries(DEFAULTS).map(([variable, values]) => [variable, values[column]]).filter(([, value]) => value)) as Record<string, string>,
});

export const VSCODE_THEMES: VsCodeTheme[] = [theme("light", "vscode-light", 0), theme("dark", "vscode-dark", 1), theme("high-contrast", "vscode-high-contrast", 2)];
