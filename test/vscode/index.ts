// The entry @vscode/test-electron loads in the extension host: runs ./suite with mocha.
import Mocha from "mocha";

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: "bdd", color: false, timeout: 120_000 });
  mocha.suite.emit("pre-require", globalThis, "suite.ts", mocha);
  require("./suite");
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} VS Code test(s) failed`)) : resolve()));
  });
}
