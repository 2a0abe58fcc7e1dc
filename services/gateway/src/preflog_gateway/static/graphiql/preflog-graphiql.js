// Starts GraphiQL against this server's /graphql. Paste your token into the Headers tab as
// {"Authorization": "Bearer <token>"}; it is kept in this browser's local storage only.
(function () {
  var fetcher = GraphiQL.createFetcher({ url: window.location.origin + "/graphql" });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: true,
      defaultQuery: "query {\n  viewer { id email name orgRole }\n}\n",
    })
  );
})();
