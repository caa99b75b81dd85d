// `gongzhi admin serve`: the web editor and Decap's local backend (decap-server, file-system
// mode) on one origin, on 127.0.0.1 only. Arguments: <editor folder> <repository> <port>.
// Saving writes straight into the working tree; there is no branch and no pull request.
'use strict';
const express = require('express');
const { registerLocalFs } = require('decap-server/dist/middlewares');

const [folder, repository, port] = process.argv.slice(2);
process.env.GIT_REPO_DIRECTORY = repository;
const self = `http://127.0.0.1:${port}`;

(async () => {
  const app = express();
  app.disable('x-powered-by');
  // decap-server answers any origin (CORS *): a web page open in the same browser could write
  // into the repository. Only this origin, under its own host name, may reach the API.
  app.use((req, res, next) => {
    if (req.headers.host !== `127.0.0.1:${port}`) return res.status(403).send('forbidden host');
    const origin = req.headers.origin;
    if (req.path.startsWith('/api/') && (req.method === 'OPTIONS' || (origin && origin !== self))) {
      return res.status(403).send('forbidden origin');
    }
    return next();
  });
  await registerLocalFs(app, { logLevel: 'error' });
  app.use('/admin', express.static(folder, { index: 'index.html' }));
  app.get('/', (req, res) => res.redirect('/admin/'));
  const server = app.listen(Number(port), '127.0.0.1', () => console.log(`ready ${self}/admin/`));
  server.on('error', (error) => { console.error(error.message); process.exit(1); });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
})();
