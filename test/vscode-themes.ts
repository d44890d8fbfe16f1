// The `--vscode-*` variables the panel uses, as VS Code sets them on a webview's <html> element in its
// default themes (Light+, Dark+, High Contrast), with the body class it sets. The values are the
// defaults of VS Code's color registry (src/vs/platform/theme/common/colors/*.ts, and the testing colors) and the themes' editor.background; a variable a theme leaves null is left unset, as VS Code does.
export interface VsCodeTheme { name: "light" | "dark" | "high-contrast"; bodyClass: string; variables: Record<string, string> }

export const VSCODE_THEMES: VsCodeTheme[] = [
  {
    name: "light", bodyClass: "vscode-light", variables: {
      "--vscode-foreground": "#616161", "--vscode-descriptionForeground": "#717171", "--vscode-errorForeground": "#a1260d",
      "--vscode-editor-background": "#ffffff", "--vscode-editor-foreground": "#000000",
      "--vscode-badge-background": "#c4c4c4", "--vscode-badge-foreground": "#333333",
      "--vscode-button-background": "#007acc", "--vscode-button-foreground": "#ffffff", "--vscode-button-hoverBackground": "#0062a3",
      "--vscode-button-secondaryBackground": "#5f6a79", "--vscode-button-secondaryForeground": "#ffffff",
      "--vscode-progressBar-background": "#0e70c0", "--vscode-testing-iconPassed": "#73c991", "--vscode-testing-iconFailed": "#f14c4c",
      "--vscode-editorWarning-foreground": "#bf8803", "--vscode-list-warningForeground": "#855f00", "--vscode-list-errorForeground": "#b01011", "--vscode-textLink-foreground": "#006ab1", "--vscode-panel-border": "#80808059",
      "--vscode-focusBorder": "#0090f1", "--vscode-sideBar-background": "#f3f3f3",
    },
  },
  {
    name: "dark", bodyClass: "vscode-dark", variables: {
      "--vscode-foreground": "#cccccc", "--vscode-descriptionForeground": "#ccccccb3", "--vscode-errorForeground": "#f48771",
      "--vscode-editor-background": "#1e1e1e", "--vscode-editor-foreground": "#d4d4d4",
      "--vscode-badge-background": "#4d4d4d", "--vscode-badge-foreground": "#ffffff",
      "--vscode-button-background": "#0e639c", "--vscode-button-foreground": "#ffffff", "--vscode-button-hoverBackground": "#1177bb",
      "--vscode-button-secondaryBackground": "#3a3d41", "--vscode-button-secondaryForeground": "#ffffff",
      "--vscode-progressBar-background": "#0e70c0", "--vscode-testing-iconPassed": "#73c991", "--vscode-testing-iconFailed": "#f14c4c",
      "--vscode-editorWarning-foreground": "#cca700", "--vscode-list-warningForeground": "#cca700", "--vscode-list-errorForeground": "#f88070", "--vscode-textLink-foreground": "#3794ff", "--vscode-panel-border": "#80808059",
      "--vscode-focusBorder": "#007fd4", "--vscode-sideBar-background": "#252526",
    },
  },
  {
    name: "high-contrast", bodyClass: "vscode-high-contrast", variables: {
      "--vscode-foreground": "#ffffff", "--vscode-descriptionForeground": "#ffffffb3", "--vscode-errorForeground": "#f48771",
      "--vscode-editor-background": "#000000", "--vscode-editor-foreground": "#ffffff", "--vscode-contrastBorder": "#6fc3df",
      "--vscode-badge-background": "#000000", "--vscode-badge-foreground": "#ffffff",
      "--vscode-button-foreground": "#ffffff", "--vscode-button-border": "#6fc3df",
      "--vscode-progressBar-background": "#6fc3df", "--vscode-testing-iconPassed": "#73c991", "--vscode-testing-iconFailed": "#f14c4c",
      "--vscode-editorWarning-foreground": "#ffd370", "--vscode-textLink-foreground": "#21a6ff", "--vscode-panel-border": "#6fc3df",
      "--vscode-focusBorder": "#f38518", "--vscode-sideBar-background": "#000000",
    },
  },
];
