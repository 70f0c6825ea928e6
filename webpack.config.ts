/**
 * One build for the browser parts: the portal (dist/portal, served at /portal/) and the Outlook add-in
 * (dist/addin, served at /addin/). TypeScript is compiled by esbuild-loader; type checking is `npm run typecheck`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlibConstants, gzipSync } from 'node:zlib';
import HtmlWebpackPlugin from 'html-webpack-plugin';
import webpack, { type Compiler, type Configuration } from 'webpack';

const root = fileURLToPath(new URL('.', import.meta.url));

/** Copies the add-in's icons (addin/assets, made by scripts/make-addin-icons.ts) to dist/addin/assets. */
const addinIcons = {
  apply(compiler: Compiler) {
    compiler.hooks.thisCompilation.tap('AddinIcons', (compilation) => {
      const stage = compiler.webpack.Compilation.PROCESS_ASSETS_STAGE_ADDITIONAL;
      compilation.hooks.processAssets.tap({ name: 'AddinIcons', stage }, () => {
        const folder = resolve(root, 'addin/assets');
        for (const file of readdirSync(folder)) {
          compilation.emitAsset(`assets/${file}`, new compiler.webpack.sources.RawSource(readFileSync(resolve(folder, file))));
        }
      });
    });
  },
};

/**
 * Writes a gzip and a brotli copy of every script next to it (name.js.gz, name.js.br). The server sends
 * the copy the browser accepts (@fastify/static's preCompressed), so nothing is compressed per request.
 */
const precompressedScripts = {
  apply(compiler: Compiler) {
    compiler.hooks.thisCompilation.tap('PrecompressedScripts', (compilation) => {
      const stage = compiler.webpack.Compilation.PROCESS_ASSETS_STAGE_OPTIMIZE_TRANSFER;
      compilation.hooks.processAssets.tap({ name: 'PrecompressedScripts', stage }, (assets) => {
        for (const name of Object.keys(assets)) {
          if (!name.endsWith('.js')) continue;
          const content = compilation.getAsset(name)!.source.buffer();
          const { RawSource } = compiler.webpack.sources;
          compilation.emitAsset(`${name}.gz`, new RawSource(gzipSync(content, { level: 9 })));
          const brotli = brotliCompressSync(content, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: content.length } });
          compilation.emitAsset(`${name}.br`, new RawSource(brotli));
        }
      });
    });
  },
};

/**
 * Tells the browser (V8's per-file compile hint) to compile all of a script's functions while it streams
 * the script in, on a background thread, rather than each one on the page's thread the first time it runs.
 * The message page's scripts are fetched while the reader looks at the open page: with the hint, pressing
 * Open message runs code compiled already instead of compiling React's and Fluent's functions right then.
 * Added after minification (which would drop the comment) and before the compressed copies are written.
 */
const eagerCompileHint = new webpack.BannerPlugin({
  banner: '//# allFunctionsCalledOnLoad',
  raw: true,
  test: /\.js$/,
  stage: webpack.Compilation.PROCESS_ASSETS_STAGE_OPTIMIZE_INLINE,
});

/**
 * Progress in tenths for a first `npm start`, which builds for a minute or more: one line per step and
 * bundle, so a newcomer sees it move. Only when scripts/ensure-built.mjs asks for it.
 */
function progressLines(name: string) {
  let lastTenth = -1;
  const started = Date.now();
  return new webpack.ProgressPlugin((fraction) => {
    const tenth = Math.floor(fraction * 10);
    if (tenth <= lastTenth) return;
    lastTenth = tenth;
    process.stdout.write(`  ${name.padEnd(7)} ${String(tenth * 10).padStart(3)} %  (${Math.round((Date.now() - started) / 1000)} s)\n`);
  });
}
const showProgress = process.env.SEALPOST_BUILD_PROGRESS === '1';

export default (_env: unknown, argv: { mode?: Configuration['mode'] }): Configuration[] => {
  const mode = argv.mode ?? 'production';
  const shared: Configuration = {
    mode,
    devtool: mode === 'production' ? false : 'source-map',
    performance: { hints: false },
    ...(showProgress ? { stats: 'errors-warnings' as const } : {}),
    resolve: { extensions: ['.tsx', '.ts', '.js'] },
    module: {
      rules: [{ test: /\.[jt]sx?$/, loader: 'esbuild-loader', options: { target: 'es2020', jsx: 'automatic' } }],
    },
    optimization: { splitChunks: false },
  };
  return [
    {
      ...shared,
      name: 'portal',
      entry: { portal: './portal/src/main.tsx' },
      output: {
        path: resolve(root, 'dist/portal'),
        filename: '[name].[contenthash].js',
        chunkFilename: '[name].[contenthash].js',
        publicPath: '/portal/',
        clean: true,
      },
      // Each page is its own file (portal/src/lazy-pages.tsx); library code that several pages share goes
      // into shared files, so a page loads only the code it uses and the rest stays cached between pages.
      optimization: { splitChunks: { chunks: 'all' } },
      plugins: [
        new HtmlWebpackPlugin({ template: './portal/index.html', filename: 'index.html' }),
        eagerCompileHint,
        precompressedScripts,
        ...(showProgress ? [progressLines('portal')] : []),
      ],
    },
    {
      ...shared,
      name: 'addin',
      entry: {
        taskpane: './addin/src/taskpane/main.tsx',
        commands: './addin/src/commands/main.ts',
        // The demo's try page (dist/addin/try/, served only while it is on): a compose window and its Outlook host.
        'try/compose': './addin/src/try/main.tsx',
        'try/office-host': './addin/src/try/office-host.ts',
      },
      output: {
        path: resolve(root, 'dist/addin'),
        // Classic Outlook on Windows loads the launch-event script by a fixed address in the manifest.
        filename: (pathData) => (pathData.chunk?.name === 'commands' ? '[name].js' : '[name].[contenthash].js'),
        chunkFilename: '[name].[contenthash].js',
        publicPath: '/addin/',
        clean: true,
      },
      plugins: [
        ...(showProgress ? [progressLines('add-in')] : []),
        addinIcons,
        new HtmlWebpackPlugin({ template: './addin/src/taskpane/taskpane.html', filename: 'taskpane.html', chunks: ['taskpane'] }),
        new HtmlWebpackPlugin({ template: './addin/src/commands/commands.html', filename: 'commands.html', chunks: ['commands'] }),
        new HtmlWebpackPlugin({ template: './addin/src/try/index.html', filename: 'try/index.html', chunks: ['try/compose'] }),
        // The same task pane, with the try page's Outlook host first instead of Microsoft's office.js.
        new HtmlWebpackPlugin({
          template: './addin/src/try/taskpane.html',
          filename: 'try/taskpane.html',
          chunks: ['try/office-host', 'taskpane'],
          chunksSortMode: 'manual',
        }),
      ],
    },
  ];
};
