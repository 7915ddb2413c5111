<?php
setcookie('first', 'one');
setcookie('second', 'two');
header('Content-Type: text/plain');
echo "two cookies\n";
