// Start ReDoc on the page's container with the OpenAPI URL the server put in a data attribute.
"use strict";
(function () {
  var root = document.getElementById("redoc");
  Redoc.init(root.dataset.openapiUrl, {}, root);
})();
