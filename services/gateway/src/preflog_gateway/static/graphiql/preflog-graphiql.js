// Starts GraphiQL against this server's /graphql.
// The token: open /graphql#token=<token> and this page moves it into the Headers tab as
// {"Authorization": "Bearer <token>"} and drops it from the address bar. A fragment never
// leaves the browser, so the token reaches no server log. Otherwise paste it into the
// Headers tab; GraphiQL keeps headers in this browser's local storage only.
(function () {
  var headers;
  var match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (match) {
    var token = decodeURIComponent(match[1]);
    headers = JSON.stringify({ Authorization: "Bearer " + token }, null, 2);
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  var fetcher = GraphiQL.createFetcher({ url: window.location.origin + "/graphql" });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      headers: headers,
      defaultHeaders: JSON.stringify({ Authorization: "Bearer <your token>" }, null, 2),
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: true,
      defaultQuery: "query {\n  viewer { id email name orgRole }\n  datasets { name dataRowCount }\n}\n",
    })
  );
})();
