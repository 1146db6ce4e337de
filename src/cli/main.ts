#!/usr/bin/env node
/**
 * The `ringkv` command.
 */
import { packageVersion } from '../util/package_root.js';

const pkg = { version: packageVersion() };

const usage = `ringkv ${pkg.version}

usage: ringkv <command> [options]

commands:
  version        print the version
  help           this text
`;

const main = (argv: readonly string[]): number => {
  const [cmd] = argv;
  switch (cmd) {
    case 'version':
    case '--version':
      console.log(pkg.version);
      return 0;
    case undefined:
    case 'help':
    case '--help':
      console.log(usage);
      return 0;
    default:
      console.error(`ringkv: unknown command '${cmd}'\n\n${usage}`);
      return 2;
  }
};

process.exitCode = main(process.argv.slice(2));
