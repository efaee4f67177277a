package ewssim

import "net/http"

func (s *Server) serveAutodiscoverSOAP(w http.ResponseWriter, r *http.Request, user string) {}
func (s *Server) serveAutodiscoverPOX(w http.ResponseWriter, r *http.Request, user string)  {}
