/* Credential form: show only the secret fields of the chosen kind. */
(function () {
  "use strict";
  var kind = document.getElementById("kind");
  var byKind = {
    password: ["password"],
    ssh_private_key: ["private_key"],
    s3_keys: ["access_key_id", "secret_access_key"],
    file_password: ["password"],
    pgp_public_key: ["public_key"]
  };
  var all = ["password", "private_key", "public_key", "access_key_id", "secret_access_key"];
  function show() {
    var wanted = kind ? byKind[kind.value] || all : all;
    all.forEach(function (name) {
      var input = document.getElementById(name);
      var group = input && input.closest(".form-group");
      if (group) { group.style.display = wanted.indexOf(name) >= 0 ? "" : "none"; }
    });
  }
  if (kind) { kind.addEventListener("change", show); }
  show();
})();
