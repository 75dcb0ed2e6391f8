// Replace a credential: show only the secret fields of its kind.
(function () {
  var kind = document.getElementById("bm-credential-edit-script").dataset.kind;
  var byKind = {password: ["password"], ssh_private_key: ["private_key"], s3_keys: ["access_key_id", "secret_access_key"],
    file_password: ["password"], pgp_public_key: ["public_key"]};
  var wanted = byKind[kind] || [];
  ["password", "private_key", "public_key", "access_key_id", "secret_access_key"].forEach(function (name) {
    var input = document.getElementById(name);
    var group = input && input.closest(".form-group");
    if (group && wanted.indexOf(name) < 0) { group.style.display = "none"; }
  });
})();
