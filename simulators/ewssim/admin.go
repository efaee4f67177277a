package ewssim

import "net/http"

func (s *Server) adminHandler() http.Handler { return s.gs.AdminHandler() }
