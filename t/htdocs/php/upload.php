<?php
// Reports what arrived: the CGI length, the body's length and md5 (read
// streamed from php://input), and any multipart files.
header('Content-Type: text/plain');
$ctx = hash_init('md5');
$len = 0;
$in = fopen('php://input', 'rb');
while (!feof($in)) {
    $buf = fread($in, 65536);
    if ($buf === false) {
        break;
    }
    $len += strlen($buf);
    hash_update($ctx, $buf);
}
fclose($in);
echo "REQUEST_METHOD=", $_SERVER['REQUEST_METHOD'], "\n";
echo "CONTENT_LENGTH=", isset($_SERVER['CONTENT_LENGTH']) ? $_SERVER['CONTENT_LENGTH'] : '(unset)', "\n";
echo "CONTENT_TYPE=", isset($_SERVER['CONTENT_TYPE']) ? $_SERVER['CONTENT_TYPE'] : '(unset)', "\n";
echo "INPUT_LENGTH=$len\n";
echo "INPUT_MD5=", hash_final($ctx), "\n";
foreach ($_FILES as $field => $f) {
    $md5 = is_uploaded_file($f['tmp_name']) ? md5_file($f['tmp_name']) : '-';
    echo "FILE_$field=", $f['name'], ' ', $f['size'], ' ', $md5, ' error=', $f['error'], "\n";
}
foreach ($_POST as $k => $v) {
    echo "POST_$k=", is_scalar($v) ? $v : '(array)', "\n";
}
